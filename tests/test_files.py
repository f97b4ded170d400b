import pytest

from pyfast._files import PARTIAL_MARK, is_partial, output_folders, replaced_on_success


def test_replaces_only_when_the_block_succeeds(tmp_path):
    target = tmp_path / "sub" / "model.onnx"
    with replaced_on_success(target) as temporary:
        assert temporary.parent == target.parent and temporary.suffix == ".onnx"
        temporary.write_text("first")
    assert target.read_text() == "first"
    with pytest.raises(RuntimeError, match="verification failed"):
        with replaced_on_success(target) as temporary:
            temporary.write_text("half-written")
            raise RuntimeError("verification failed")
    assert target.read_text() == "first"
    assert [p.name for p in target.parent.iterdir()] == ["model.onnx"]


def test_interrupted_write_leaves_no_partial_file(tmp_path):
    target = tmp_path / "out.png"
    with pytest.raises(KeyboardInterrupt):
        with replaced_on_success(target) as temporary:
            temporary.write_bytes(b"x")
            raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []


def test_writes_through_a_symlink_and_keeps_the_mode(tmp_path):
    real = tmp_path / "real" / "model.onnx"
    real.parent.mkdir()
    real.write_text("old")
    real.chmod(0o600)
    link = tmp_path / "link.onnx"
    link.symlink_to(real)
    with replaced_on_success(link) as temporary:
        temporary.write_text("new")
    assert link.is_symlink() and real.read_text() == "new"
    assert real.stat().st_mode & 0o777 == 0o600


def test_errors_name_the_target_not_the_temporary_file(tmp_path):
    (tmp_path / "taken.png").mkdir()  # a folder where the file should go: the replacement fails
    with pytest.raises(OSError, match=r"cannot write .*taken\.png \(Is a directory\)") as info:
        with replaced_on_success(tmp_path / "taken.png") as temporary:
            temporary.write_bytes(b"x")
    assert PARTIAL_MARK not in str(info.value)
    assert [p.name for p in tmp_path.iterdir()] == ["taken.png"]


def test_partial_files_are_recognised():
    assert is_partial(".photo.partial-12-0.png") and not is_partial("photo.partial.png") and not is_partial("a.png")


def test_files_below_follows_linked_folders_once_and_leaves_out_excluded_ones(tmp_path):
    from pyfast._files import files_below

    (tmp_path / "photos" / "out").mkdir(parents=True)
    (tmp_path / "elsewhere").mkdir()
    for name in ("photos/a.png", "photos/out/a.png", "elsewhere/b.JPG", "photos/notes.txt", "photos/.c.partial-1-2.png"):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "photos" / "linked").symlink_to(tmp_path / "elsewhere")
    (tmp_path / "elsewhere" / "loop").symlink_to(tmp_path / "photos")  # a link loop ends
    found = files_below(tmp_path / "photos", (".png", ".jpg"), exclude=[tmp_path / "photos" / "out"])
    assert [p.relative_to(tmp_path / "photos").as_posix() for p in found] == ["a.png", "linked/b.JPG"]


def test_files_below_never_excludes_the_folder_itself(tmp_path):
    from pyfast._files import files_below

    (tmp_path / "a.png").write_bytes(b"x")
    assert files_below(tmp_path, (".png",), exclude=[tmp_path]) == [tmp_path / "a.png"]


def test_existing_file_tells_a_folder_and_a_device_from_a_missing_file(tmp_path):
    from pyfast._files import existing_file

    (tmp_path / "a.txt").write_text("x")
    assert existing_file(tmp_path / "a.txt") == tmp_path / "a.txt"
    with pytest.raises(IsADirectoryError, match=f"^{tmp_path} is a folder, not a checkpoint$"):
        existing_file(tmp_path, "checkpoint")
    with pytest.raises(FileNotFoundError, match=f"^no such model: {tmp_path / 'b'}$"):
        existing_file(tmp_path / "b", "model")
    with pytest.raises(ValueError, match="/dev/null is not a regular file, so not a model"):
        existing_file("/dev/null", "model")


def test_readers_say_a_folder_is_a_folder(tmp_path):
    from pyfast.data import read_image
    from pyfast.runtime import Engine
    from pyfast.style import load_checkpoint

    for reader, what in ((load_checkpoint, "a checkpoint"), (Engine, "an ONNX model"), (read_image, "an image file")):
        with pytest.raises(IsADirectoryError, match=f"is a folder, not {what}$"):
            reader(tmp_path)


def test_output_folders_are_made_and_the_empty_new_ones_removed_afterwards(tmp_path):
    (tmp_path / "old").mkdir()
    with output_folders([tmp_path / "new" / "a", tmp_path / "new" / "b", tmp_path / "old", tmp_path / "new" / "a"]) as made:
        assert sorted(made) == [tmp_path / "new", tmp_path / "new" / "a", tmp_path / "new" / "b"]
        (tmp_path / "new" / "a" / "x.png").write_bytes(b"x")  # a is used, b is not
        assert sorted(p.name for p in (tmp_path / "new" / "a").iterdir()) == ["x.png"]  # the probe is gone
    assert (tmp_path / "new" / "a" / "x.png").is_file() and not (tmp_path / "new" / "b").exists()
    assert (tmp_path / "old").is_dir()  # there before: kept, though empty


def test_output_folders_fail_naming_the_folder_and_leave_nothing(tmp_path):
    (tmp_path / "afile").write_text("x")
    with pytest.raises(NotADirectoryError, match=r"cannot create the output folder .*afile/sub: .*afile exists and is "
                                                 r"not a folder"):
        with output_folders([tmp_path / "fresh" / "ok", tmp_path / "afile" / "sub"]):
            raise AssertionError("the block ran")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile"]  # fresh/ok, made first, removed again


def test_output_folders_check_a_file_can_be_written(tmp_path, monkeypatch):
    import tempfile

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", refuse)  # root ignores permission bits: refuse as a read-only folder
    with pytest.raises(PermissionError, match=r"cannot write in the output folder .*new \(Permission denied\)"):
        with output_folders([tmp_path / "new"]):
            raise AssertionError("the block ran")
    assert list(tmp_path.iterdir()) == []


def test_an_output_folder_reached_through_a_link_is_made_where_the_link_points(tmp_path):
    (tmp_path / "link").symlink_to("target")  # dangling until the folder is made
    with output_folders([tmp_path / "link" / "sub"]) as made:
        assert sorted(made) == [tmp_path / "target", tmp_path / "target" / "sub"]
        (tmp_path / "link" / "sub" / "x.png").write_bytes(b"x")
    assert (tmp_path / "target" / "sub" / "x.png").is_file()
    with output_folders([tmp_path / "link" / "empty"]):
        pass
    assert (tmp_path / "link").is_symlink() and not (tmp_path / "target" / "empty").exists()
