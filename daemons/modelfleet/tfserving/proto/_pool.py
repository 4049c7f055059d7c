"""The private descriptor pool of modelfleet's TF Serving protos (see :mod:`.build` for why).

``google/protobuf/wrappers.proto`` is added first because ``serving.proto`` imports it.
"""

from __future__ import annotations

from google.protobuf import descriptor_pool, wrappers_pb2

POOL = descriptor_pool.DescriptorPool()
POOL.AddSerializedFile(wrappers_pb2.DESCRIPTOR.serialized_pb)
