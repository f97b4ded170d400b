from pyfast._errors import error_text, first_line


def test_first_line_copes_with_empty_and_multiline_messages():
    assert first_line(EOFError(), typed=True) == "EOFError"
    assert first_line(RuntimeError("\n  first\nsecond"), typed=True) == "RuntimeError: first"
    assert len(first_line(ValueError("x" * 500), limit=10, typed=True)) == len("ValueError: ") + 10


def test_first_line_untyped_is_the_message_alone():
    assert first_line(RuntimeError("\n  first\nsecond")) == "first"
    assert first_line(RuntimeError("")) == "RuntimeError"  # an empty message: IndexError before
    assert first_line(ValueError("x" * 500), limit=7) == "x" * 7


def test_error_text_gives_file_errors_as_path_and_reason():
    assert error_text(FileNotFoundError(2, "No such file or directory", "/x/y")) == "/x/y: No such file or directory"
    assert error_text(OSError(2, "cannot write /x/y (No such file or directory)")) == \
        "cannot write /x/y (No such file or directory)"  # pyfast's own wording, without "[Errno 2]"
    assert error_text(OSError("no errno")) == "no errno"
    assert error_text(ValueError("plain")) == "plain"
