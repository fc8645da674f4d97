"""The glue NNI 3.0 lacks, written once: running and waiting for experiments, the tuner base,
held requests, resume, warm trial start-up and TensorBoard files."""
