"""Ship the top-level templates/, static/ and translations/ folders inside the wheel.

docs/design.md keeps them at the repository's top; the app looks for them next to
the package first (installed wheel) and at the repository root otherwise
(editable install). translations/ holds each language's .po catalogue and its
compiled .mo (committed; `make translations` rebuilds both).
"""

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py


class BuildWithAssets(build_py):
    def run(self) -> None:
        super().run()
        import shutil

        root = Path(__file__).parent
        for name in ("templates", "static", "translations"):
            target = Path(self.build_lib) / "provider" / f"_{name}"
            if target.exists():
                shutil.rmtree(target)
            shutil.copytree(root / name, target)


setup(cmdclass={"build_py": BuildWithAssets})
