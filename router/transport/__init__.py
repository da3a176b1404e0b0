"""The service on the wire: the gRPC server, protobuf conversion, authentication."""
