"""A local fake of the Kubernetes API for tests: every request body and every object it returns
is validated against the Kubernetes JSON schemas of each version cmlinfra claims (strict, from
the kubernetes-validate package); it plays the Job controller, the scheduler (fake nodes with
GPUs, taints and labels), the kubelet (each container a real process in its own PID and mount
namespaces, exec over the v5/v4 websocket channel protocol) and the garbage collector."""

from tests.kube_server.server import KubeServer

__all__ = ["KubeServer"]
