"""gRPC front end: tensorflow.serving.PredictionService and ModelService on the official generated stubs."""

from __future__ import annotations

import logging

import grpc
from tensorflow_serving.apis import (model_management_pb2, model_service_pb2_grpc,
                                     prediction_service_pb2_grpc)

from serving.server import status
from serving.server.core import ServingCore
from serving.server.limits import CancelCheck

logger = logging.getLogger("bert_tf.serving")

_GRPC_CODES = {code.value[0]: code for code in grpc.StatusCode}


class _OneLineUnparsableRequests(logging.Filter):
    """grpc logs every request message it cannot parse at ERROR with the DecodeError's traceback (5 lines;
    the client gets INTERNAL "Exception deserializing request!"), so garbage bytes from any client fill the
    log, as the REST tracebacks of issue 14 H did (the soak's 97 garbage requests: 97 tracebacks). One INFO
    line instead."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.msg == "Exception deserializing message!" and record.exc_info:
            error = record.exc_info[1]
            record.msg, record.args = "gRPC request could not be parsed: %s: %s", (type(error).__name__, error)
            record.exc_info = record.exc_text = None
            record.levelno, record.levelname = logging.INFO, "INFO"
        return True


_UNPARSABLE_FILTER = _OneLineUnparsableRequests()
logging.getLogger("grpc._common").addFilter(_UNPARSABLE_FILTER)  # once: the same filter object is not re-added


def _call(context, fn, request, api: str):
    try:
        return fn(request)
    except status.ServingError as e:
        logger.debug("%s failed: %s", api, e)
        context.abort(_GRPC_CODES.get(e.code, grpc.StatusCode.UNKNOWN), status.truncate_for_grpc(e.message))
    except Exception as e:  # a bug must cost one request, never the server
        logger.exception("%s failed with an unexpected error", api)
        context.abort(grpc.StatusCode.INTERNAL, status.truncate_for_grpc(f"{type(e).__name__}: {e}"))


class PredictionServicer(prediction_service_pb2_grpc.PredictionServiceServicer):
    """tensorflow.serving.PredictionService over a ServingCore."""

    def __init__(self, core: ServingCore):
        self.core = core

    # Inference stops between chunks (or leaves the batching queue) once the client cancels or its deadline
    # passes, as TF Serving passes the deadline to Session::Run as a timeout.
    def Predict(self, request, context):
        return _call(context, lambda r: self.core.predict(r, CancelCheck.for_grpc(context)), request, "Predict")

    def Classify(self, request, context):
        return _call(context, lambda r: self.core.classify(r, CancelCheck.for_grpc(context)), request, "Classify")

    def Regress(self, request, context):
        return _call(context, lambda r: self.core.regress(r, CancelCheck.for_grpc(context)), request, "Regress")

    def MultiInference(self, request, context):
        return _call(context, lambda r: self.core.multi_inference(r, CancelCheck.for_grpc(context)), request,
                     "MultiInference")

    def GetModelMetadata(self, request, context):
        return _call(context, self.core.get_model_metadata, request, "GetModelMetadata")


class ModelServicer(model_service_pb2_grpc.ModelServiceServicer):
    """tensorflow.serving.ModelService: GetModelStatus and HandleReloadConfigRequest."""

    def __init__(self, core: ServingCore):
        self.core = core

    def GetModelStatus(self, request, context):
        return _call(context, self.core.get_model_status, request, "GetModelStatus")

    def HandleReloadConfigRequest(self, request, context):
        def reload(req):
            if req.config.WhichOneof("config") != "model_config_list":
                raise status.invalid_argument(
                    "ServerModelConfig type not supported by HandleReloadConfigRequest. Only ModelConfigList is "
                    "currently supported")
            self.core.manager.set_config(req.config)
            response = model_management_pb2.ReloadConfigResponse()
            response.status.error_code = status.OK
            return response
        return _call(context, reload, request, "HandleReloadConfigRequest")
