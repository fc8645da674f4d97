"""Trial programs, data loading, training protocols and the glue that runs NNI experiments."""
