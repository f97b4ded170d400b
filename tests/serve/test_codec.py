import pytest

from pyfast.serve.codec import ImageError, decode_image
from tests.helpers import decode_in_threads_over_pillows_warning_size


def test_decoding_from_many_threads_leaves_the_warning_filters_alone():
    assert decode_in_threads_over_pillows_warning_size(lambda data: decode_image(data, 10**6)) == (False, 0)


def test_the_pixel_limit_is_decided_from_the_header(png):
    with pytest.raises(ImageError, match="image is 48x40 = 1920 pixels, over the limit of 1000") as error:
        decode_image(png(48, 40), 1000)
    assert error.value.status == 413
