"""The private descriptor pool of modelfleet's TF Serving protos (see :mod:`.build` for why).

``google/protobuf/wrappers.proto`` and ``any.proto`` are added first because ``serving.proto``
imports them.
"""

from __future__ import annotations

from google.protobuf import any_pb2, descriptor_pool, wrappers_pb2

POOL = descriptor_pool.DescriptorPool()
POOL.AddSerializedFile(wrappers_pb2.DESCRIPTOR.serialized_pb)
POOL.AddSerializedFile(any_pb2.DESCRIPTOR.serialized_pb)
