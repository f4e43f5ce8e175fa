"""README and docs: every relative link and picture resolves (anchors included), every `--flag` written there
exists, and the README stays a page a newcomer reads in minutes."""
import glob
import os
import re

from absl import flags

from keras_vidrep.cli import common

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PAGES = [os.path.join(ROOT, "README.md")] + sorted(glob.glob(os.path.join(ROOT, "docs", "*.md")))
# Flags of other programs that the pages show next to ours.
OTHER_PROGRAMS = {"logdir", "host", "port", "reload_interval", "no-deps", "headless", "upgrade",
                  "runner", "flink_master", "environment_type"}  # the last: Apache Beam's pipeline options
ABSL = {"flagfile", "help", "helpfull", "helpshort", "undefok", "verbosity"}


def slug(heading):
    """The anchor GitHub gives a heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(path):
    with open(path, encoding="utf-8") as f:
        return {slug(line.lstrip("#")) for line in f if line.startswith("#") and not line.startswith("#!")}


def without_code_blocks(text):
    return re.sub(r"```.*?```", "", text, flags=re.S)


def test_every_relative_link_and_picture_resolves():
    broken = []
    for page in PAGES:
        with open(page, encoding="utf-8") as f:
            text = without_code_blocks(f.read())
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"[a-z]+://", target) or target.startswith("mailto:"):
                continue
            path, _, anchor = target.partition("#")
            resolved = os.path.normpath(os.path.join(os.path.dirname(page), path)) if path else page
            if not os.path.exists(resolved):
                broken.append(f"{os.path.relpath(page, ROOT)}: {target} (no such file)")
            elif anchor and resolved.endswith(".md") and anchor not in anchors(resolved):
                broken.append(f"{os.path.relpath(page, ROOT)}: {target} (no such heading)")
    assert not broken, "\n".join(broken)


def known_flags():
    values = flags.FlagValues()
    common.define_config_flags(values)
    names = set(values) | ABSL | OTHER_PROGRAMS
    sources = glob.glob(os.path.join(ROOT, "keras_vidrep", "**", "*.py"), recursive=True)
    sources += glob.glob(os.path.join(ROOT, "bench", "*.py"))
    for source in sources:
        with open(source, encoding="utf-8") as f:
            text = f.read()
        names |= set(re.findall(r"DEFINE_\w+\(\s*\"(\w+)\"", text))
        names |= set(re.findall(r"add_argument\(\s*\"--([\w-]+)\"", text))
    return names


def test_every_flag_written_in_readme_and_docs_exists():
    known = known_flags()
    unknown = []
    for page in PAGES:
        with open(page, encoding="utf-8") as f:
            text = "".join(line for line in f if not line.startswith("#SBATCH"))  # sbatch's own options
        for name in set(re.findall(r"(?<![\w-])--([a-z][\w-]*)", text)):
            negated = name.startswith("no") and name[2:] in known  # absl's --nofoo for a boolean foo
            if name not in known and not negated:
                unknown.append(f"{os.path.relpath(page, ROOT)}: --{name}")
    assert not unknown, "\n".join(sorted(unknown))


def test_readme_is_short_and_every_config_links_its_page():
    with open(PAGES[0], encoding="utf-8") as f:
        assert len(f.read().splitlines()) <= 250
    for config in glob.glob(os.path.join(ROOT, "configs", "**", "*.cfg"), recursive=True):
        with open(config, encoding="utf-8") as f:
            header = "".join(line for line in f if line.startswith("#"))
        pages = re.findall(r"docs/(\w+\.md)", header)
        assert pages, f"{os.path.relpath(config, ROOT)}: its header links no docs/ page"
        for page in pages:
            assert os.path.isfile(os.path.join(ROOT, "docs", page)), f"{config}: docs/{page} does not exist"
