"""Generates the gRPC stubs from protos/router.proto whenever the package is built (pip install ., or -e .),
so every install has them; the rest of the build is configured in pyproject.toml."""

from importlib import resources
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

PROTO = "protos/router.proto"
GENERATED = "router.generated"


def generate_stubs() -> None:
    from grpc_tools import protoc  # a build requirement (pyproject.toml), never a runtime one

    well_known = resources.files("grpc_tools") / "_proto"  # google/protobuf/struct.proto and the like
    # The -I mapping makes the generated modules import each other as router.generated.*.
    status = protoc.main(["protoc", f"-I{well_known}", "-Irouter/generated=protos", "--python_out=.",
                          "--pyi_out=.", "--grpc_python_out=.", PROTO])
    if status != 0:
        raise SystemExit(f"protoc could not compile {PROTO} (exit status {status})")
    Path("router/generated/__init__.py").touch()


class BuildWithStubs(build_py):
    def run(self) -> None:
        generate_stubs()
        # setuptools looked for packages before the stubs existed on a fresh checkout.
        if GENERATED not in self.packages:
            self.packages.append(GENERATED)
        super().run()


setup(cmdclass={"build_py": BuildWithStubs})
