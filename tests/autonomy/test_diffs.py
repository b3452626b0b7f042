from pathlib import Path

from nightfix.autonomy import diffs

FIX = (Path(__file__).parents[2] / "examples/checkout-service/fix.patch").read_text()


def test_split_a_git_diff_per_file_with_counts():
    patches = diffs.split(FIX)
    assert [p.path for p in patches] == ["checkout/db.py", "tests/test_pool.py"]
    assert patches[1].old_path is None and patches[1].added == 12
    assert diffs.join(patches) == FIX


def test_removed_line_that_looks_like_a_header_stays_in_its_file():
    diff = (
        "diff --git a/x.py b/x.py\n--- a/x.py\n+++ b/x.py\n@@ -1,2 +1,1 @@\n"
        "--- not a header\n keep\n"
    )
    [patch] = diffs.split(diff)
    assert patch.removed == 1 and patch.added == 0


def test_globs_cross_directories():
    assert diffs.matches("tests/unit/test_a.py", ["tests/**"])
    assert diffs.matches("pkg/.env.local", ["**/.env*"])
    assert not diffs.matches("src/app.py", ["tests/**", "**/test_*.py"])
