"""Generated TF Serving wire messages (minimal subset), in a private descriptor pool.

Import the generated modules from here: ``serving_pb2`` (ModelSpec, GetModelStatus*,
ReloadConfig*, ModelServerConfig, Predict*), ``serving_pb2_grpc`` (stubs and servicers),
``tensor_pb2`` (TensorProto, DataType), ``error_codes_pb2`` (tensorflow.error.Code) and
``monitoring_pb2`` (MonitoringConfig, the dev server's --monitoring_config_file).
"""
