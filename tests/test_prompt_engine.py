"""Property tests of the prompt engine and the output-size enforcement (hypothesis)."""

from __future__ import annotations

import io

from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from activities.image_resize import cover_crop
from kernel.prompts.asset_types import asset_types
from kernel.prompts.brand_kit import BrandKit
from kernel.prompts.engine import MAX_SUBJECT_CHARS, render_prompt, subject_text

TYPES = list(asset_types().values())
SIZED = [t for t in TYPES if t.output_size]
word = st.text(st.characters(codec="utf-8", categories=["L", "N"]), min_size=1, max_size=20)
colour = st.from_regex(r"#[0-9a-f]{6}", fullmatch=True)
kits = st.builds(
    BrandKit,
    colors=st.lists(colour, max_size=10),
    fonts=st.lists(word, max_size=5),
    tone=st.one_of(st.none(), word),
    style_keywords=st.lists(word, max_size=20),
    negative_keywords=st.lists(word, max_size=20),
)
hostile = st.text(max_size=3000) | st.sampled_from(
    ["${brand}", "$subject $avoid", "{{7*7}}", "$$", "${", "\x00\u202e\r\n"]
)


@given(kind=st.sampled_from(TYPES), text=hostile, kit=kits)
def test_every_brand_kit_value_and_the_user_text_appear_in_the_prompt(kind, text, kit) -> None:
    prompt = render_prompt(kind, text, kit)

    for value in [*kit.colors, *kit.fonts, *kit.style_keywords, *kit.negative_keywords]:
        assert value in prompt
    if kit.tone:
        assert kit.tone in prompt
    assert subject_text(text) in prompt
    for modifier in kind.quality:
        assert modifier in prompt


@given(kind=st.sampled_from(TYPES), text=hostile)
def test_sanitised_text_never_breaks_the_template(kind, text) -> None:
    prompt = render_prompt(kind, text, None)  # never raises, whatever the text

    subject = subject_text(text)
    assert len(subject) <= MAX_SUBJECT_CHARS
    assert not any(ord(ch) < 32 and ch not in "\n\t" for ch in prompt)
    assert "\u202e" not in prompt  # invisible direction overrides are stripped
    # Placeholders left in the prompt can only be the user's own (literal) text.
    assert prompt.count("$") == subject.count("$")


@settings(max_examples=40, deadline=None)
@given(
    kind=st.sampled_from(SIZED),
    width=st.integers(min_value=16, max_value=700),
    height=st.integers(min_value=16, max_value=700),
)
def test_output_dimensions_always_match_the_asset_type(kind, width, height) -> None:
    source = io.BytesIO()
    Image.new("RGB", (width, height), (200, 40, 90)).save(source, format="PNG")
    assert kind.output_size is not None

    out = Image.open(io.BytesIO(cover_crop(source.getvalue(), *kind.output_size)))

    assert (out.format, out.size) == ("PNG", kind.output_size)
