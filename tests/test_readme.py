"""The README's quick-start commands are the ones CI and users run."""

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _block(marker: str) -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    match = re.search(rf"<!-- {marker} -->\s*```bash\n(.*?)\n\s*```\s*<!-- /{marker} -->", text, re.S)
    assert match, f"README has no {marker} block"
    return match.group(1).strip()


def test_ci_extracts_the_readme_test_command():
    script = (ROOT / ".ci" / "run").read_text()
    assert "test-command" in script
    extract = script[script.index("cmd=$(") + 6 : script.index("\n[ -n")].rstrip(")")
    out = subprocess.run(["bash", "-c", extract], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()
    assert out == _block("test-command")
    assert "pytest" in out and "torch==2.13.0" in out


def test_quickstart_upscales_the_example_with_the_default_model():
    command = _block("quickstart-command")
    assert "srcli upscale examples/" in command and "--model" not in command
    image = re.search(r"srcli upscale (examples/\S+)", command).group(1)
    assert (ROOT / image).is_file()
