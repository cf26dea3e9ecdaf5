"""The chapters' pictures: the paper's diagrams and the protocol's steps, drawn from the library.

Each figure is computed from the code it explains, never copied from the paper: the taps of
Eq. 1 come from the oracle's convolution, the cascade from
:func:`atrous.model.backbone.block_plans`, ASPP's branches from a built network, and so on. One
module a figure, each with a ``draw_*`` function that draws on axes you pass (matplotlib,
never a window) and returns what it drew, so that a test or a chapter can check it:

- :mod:`atrous.diagrams.taps`: Fig. 1, the taps of a 3x3 atrous filter on the pixel grid;
- :mod:`atrous.diagrams.cascade`: Fig. 3, the blocks' strides and rates at each output stride;
- :mod:`atrous.diagrams.aspp_branches`: Fig. 5, the branches of a network's ASPP;
- :mod:`atrous.diagrams.label_targets`: Tab. 8, the label map downsampled to the logits' grid;
- :mod:`atrous.diagrams.batch_statistics`: batch norm's statistics against the batch size;
- :mod:`atrous.diagrams.strategies`: predictions of each inference strategy, with their cost;
- :mod:`atrous.diagrams.recipe_pipeline`: the shipped recipes as stages of one pipeline;
- :mod:`atrous.diagrams.batch_split`: the global batch dealt out to data-parallel processes;
- :mod:`atrous.diagrams.shapes`: the boxes and arrows the diagrams are made of.

May import: every layer (a tool, on top of them all).
"""
