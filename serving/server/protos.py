"""TF Serving protos that the `tensorflow-serving-api` wheel does not ship, rebuilt field for field.

The wheel has `model_server_config_pb2` but not `session_bundle_config_pb2` (BatchingParameters) nor
`ssl_config_pb2` (SSLConfig). Both are defined here with TF Serving's package, message names, field names and
field numbers (tensorflow_serving/servables/tensorflow/session_bundle_config.proto and
tensorflow_serving/config/ssl_config.proto), in a private descriptor pool so they can never clash with the
official modules if a later wheel ships them. Text format and binary format are therefore identical to TF
Serving's.
"""

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, wrappers_pb2

_F = descriptor_pb2.FieldDescriptorProto


def _build():
    pool = descriptor_pool.DescriptorPool()
    pool.AddSerializedFile(wrappers_pb2.DESCRIPTOR.serialized_pb)

    batching = descriptor_pb2.FileDescriptorProto(
        name="bert_tf_serving/session_bundle_config.proto", package="tensorflow.serving", syntax="proto3",
        dependency=["google/protobuf/wrappers.proto"])
    msg = batching.message_type.add(name="BatchingParameters")
    for number, name, type_name in (
            (1, "max_batch_size", ".google.protobuf.Int64Value"),
            (2, "batch_timeout_micros", ".google.protobuf.Int64Value"),
            (3, "max_enqueued_batches", ".google.protobuf.Int64Value"),
            (4, "num_batch_threads", ".google.protobuf.Int64Value"),
            (5, "thread_pool_name", ".google.protobuf.StringValue")):
        msg.field.add(name=name, number=number, type=_F.TYPE_MESSAGE, label=_F.LABEL_OPTIONAL,
                      type_name=type_name)
    msg.field.add(name="allowed_batch_sizes", number=6, type=_F.TYPE_INT64, label=_F.LABEL_REPEATED)
    msg.field.add(name="pad_variable_length_inputs", number=7, type=_F.TYPE_BOOL, label=_F.LABEL_OPTIONAL)
    pool.Add(batching)

    ssl = descriptor_pb2.FileDescriptorProto(
        name="bert_tf_serving/ssl_config.proto", package="tensorflow.serving", syntax="proto3")
    msg = ssl.message_type.add(name="SSLConfig")
    for number, name in ((1, "server_key"), (2, "server_cert"), (3, "custom_ca")):
        msg.field.add(name=name, number=number, type=_F.TYPE_STRING, label=_F.LABEL_OPTIONAL)
    msg.field.add(name="client_verify", number=4, type=_F.TYPE_BOOL, label=_F.LABEL_OPTIONAL)
    pool.Add(ssl)

    return (message_factory.GetMessageClass(pool.FindMessageTypeByName("tensorflow.serving.BatchingParameters")),
            message_factory.GetMessageClass(pool.FindMessageTypeByName("tensorflow.serving.SSLConfig")))


BatchingParameters, SSLConfig = _build()
