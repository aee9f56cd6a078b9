"""Training and export (TensorFlow): settings, the run plan, recipes, augmentation, runtime
(precision, XLA, tf.distribute), the run directory, the training loop and SavedModel export."""
