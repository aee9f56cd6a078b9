"""Model code (Keras only, any backend): configs, compound scaling, blocks, the builder,
baselines, ImageNet weights and MAC counting."""
