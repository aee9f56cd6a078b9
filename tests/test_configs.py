"""Configs are plain data: JSON round trips, validation errors name the key, scaling rules."""

import json
import math

import pytest

import effnet_keras as ek

REFERENCE = {  # width, depth, train res, eval res, dropout (reference.md section 1)
    "b0": (1.0, 1.0, 224, 224, 0.2), "b1": (1.0, 1.1, 240, 240, 0.2), "b2": (1.1, 1.2, 260, 260, 0.3),
    "b3": (1.2, 1.4, 300, 300, 0.3), "b4": (1.4, 1.8, 380, 380, 0.4), "b5": (1.6, 2.2, 456, 456, 0.4),
    "b6": (1.8, 2.6, 528, 528, 0.5), "b7": (2.0, 3.1, 600, 600, 0.5),
    "v2-b0": (1.0, 1.0, 192, 224, 0.2), "v2-b1": (1.0, 1.1, 192, 240, 0.2), "v2-b2": (1.1, 1.2, 208, 260, 0.3),
    "v2-b3": (1.2, 1.4, 240, 300, 0.3), "v2-s": (1.0, 1.0, 300, 384, 0.2), "v2-m": (1.0, 1.0, 384, 480, 0.3),
    "v2-l": (1.0, 1.0, 384, 480, 0.4),
}


def test_all_fifteen_variants_exist_with_reference_values():
    assert set(ek.VARIANTS) == set(REFERENCE)
    for name, (width, depth, train_res, eval_res, dropout) in REFERENCE.items():
        cfg = ek.get_config(name)
        assert (cfg["width"], cfg["depth"], cfg["train_resolution"], cfg["resolution"], cfg["dropout"]) == (
            width, depth, train_res, eval_res, dropout)
        assert cfg["drop_connect_rate"] == 0.2
        assert cfg["bn_momentum"] == (0.99 if name[0] == "b" else 0.9)
        assert json.loads(json.dumps(cfg)) == cfg


def test_b0_stages_match_the_paper():
    stages = [(b["kernel"], b["repeats"], b["filters_in"], b["filters_out"], b["expand_ratio"], b["strides"])
              for b in ek.get_config("b0")["blocks"]]
    assert stages == [(3, 1, 32, 16, 1, 1), (3, 2, 16, 24, 6, 2), (5, 2, 24, 40, 6, 2), (3, 3, 40, 80, 6, 2),
                      (5, 3, 80, 112, 6, 1), (5, 4, 112, 192, 6, 2), (3, 1, 192, 320, 6, 1)]
    assert {b["se_ratio"] for b in ek.get_config("b0")["blocks"]} == {0.25}
    assert [b["type"] for b in ek.get_config("v2-s")["blocks"]] == ["fused"] * 3 + ["mbconv"] * 3


def test_get_config_returns_independent_copies():
    a = ek.get_config("b0")
    a["blocks"][0]["kernel"] = 7
    assert ek.get_config("b0")["blocks"][0]["kernel"] == 3


def test_a_hand_written_json_file_builds_the_same_model(tmp_path):
    path = tmp_path / "my_b1.json"
    path.write_text(json.dumps(ek.get_config("b1"), indent=2))
    ours = ek.build_model(str(path), num_classes=10, input_shape=(32, 32, 3))
    ref = ek.build_model("b1", num_classes=10, input_shape=(32, 32, 3))
    assert [(w.path, w.shape) for w in ours.weights] == [(w.path, w.shape) for w in ref.weights]


@pytest.mark.parametrize("key, value, message", [
    ("width", 0, "'width'"),
    ("depth", -1.0, "'depth'"),
    ("resolution", 16, "'resolution'"),
    ("family", "v3", "'family'"),
    ("preprocessing", "zscore", "'preprocessing'"),
    ("activation", "sparkles", "'activation' is 'sparkles'; allowed values: 'swish'"),
    ("stem_strides", True, "'stem_strides' is True"),
    ("name", 7, "'name' is 7"),
])
def test_invalid_top_level_values_name_the_key(key, value, message):
    cfg = ek.get_config("b0")
    cfg[key] = value
    with pytest.raises(ValueError, match=message):
        ek.validate_config(cfg)


@pytest.mark.parametrize("key, value, message", [
    ("type", "resnet", "'type'.*'mbconv', 'fused'"),
    ("kernel", 4, "'kernel'.*odd"),
    ("strides", 3, "'strides'"),
    ("repeats", 0, "'repeats'"),
    ("kernel", True, "'kernel' is True"),
    ("strides", True, "'strides' is True"),
])
def test_invalid_block_values_name_the_block_and_key(key, value, message):
    cfg = ek.get_config("b0")
    cfg["blocks"][2][key] = value
    with pytest.raises(ValueError, match=r"blocks\[2\].*" + message):
        ek.validate_config(cfg)


def test_missing_keys_are_named():
    cfg = ek.get_config("b0")
    del cfg["head_filters"]
    with pytest.raises(ValueError, match="missing key.*'head_filters'"):
        ek.validate_config(cfg)
    cfg = ek.get_config("b0")
    del cfg["blocks"][0]["se_ratio"]
    with pytest.raises(ValueError, match=r"blocks\[0\].*'se_ratio'"):
        ek.build_model(cfg)


def test_unknown_variant_lists_the_allowed_names():
    with pytest.raises(ValueError, match="b0, b1.*v2-l"):
        ek.get_config("b9")


def test_rounding_rules():
    assert ek.round_filters(32, 1.0) == 32
    assert ek.round_filters(32, 1.1) == 32   # 35.2 -> 32 (within 10%)
    assert ek.round_filters(1280, 2.0) == 2560
    assert ek.round_filters(16, 0.25) == 8   # never below the divisor
    assert ek.round_filters(20, 1.0) == 24   # 20 -> 24 rounds half up
    assert ek.round_filters(36, 0.5) == 24   # 18 -> 16 loses 11%: V1 adds 8
    assert ek.round_filters(36, 0.5, family="v2") == 16
    assert ek.round_repeats(3, 1.4) == 5 and ek.round_repeats(1, 3.1) == 4
    assert ek.round_resolution(257.6) == 258 and ek.round_resolution(256.5) == 257


def test_compound_scale_records_coefficients_and_scales_each_dimension():
    cfg = ek.compound_scale(1.2, 1.1, 1.15, phi=2, base="b0")
    assert cfg["depth"] == pytest.approx(1.44) and cfg["width"] == pytest.approx(1.21)
    assert cfg["resolution"] == cfg["train_resolution"] == round(224 * 1.15**2)
    assert (cfg["alpha"], cfg["beta"], cfg["gamma"], cfg["phi"], cfg["base"]) == (1.2, 1.1, 1.15, 2, "b0")
    assert json.loads(json.dumps(cfg)) == cfg
    v2 = ek.compound_scale(1.2, 1.1, 1.15, phi=1, base="v2-b0")
    assert (v2["train_resolution"], v2["resolution"]) == (round(192 * 1.15), round(224 * 1.15 + 0.5))


def test_phi_zero_is_the_base_model():
    cfg = ek.compound_scale(1.2, 1.1, 1.15, phi=0)
    base = ek.get_config("b0")
    assert all(cfg[k] == base[k] for k in ("width", "depth", "resolution", "blocks"))


def test_single_dimension_overrides_are_absolute():
    cfg = ek.override("b3", width=0.5)
    assert cfg["width"] == 0.5 and cfg["depth"] == 1.4
    scaled = ek.compound_scale(1.2, 1.1, 1.15, phi=1, resolution=64)
    assert scaled["resolution"] == scaled["train_resolution"] == 64 and scaled["width"] == pytest.approx(1.1)
    with pytest.raises(ValueError, match="'width'"):
        ek.override("b0", width=-0.5)
    with pytest.raises(ValueError, match="Unknown config key 'colour'"):
        ek.override("b0", colour="red")


@pytest.mark.parametrize("bad", [{"alpha": 0}, {"gamma": -1.0}, {"phi": -1}])
def test_compound_scale_rejects_bad_coefficients(bad):
    args = {"alpha": 1.2, "beta": 1.1, "gamma": 1.15, "phi": 1} | bad
    with pytest.raises(ValueError, match=next(iter(bad))):
        ek.compound_scale(**args)


def test_cost_ratio_of_the_papers_coefficients_is_about_two():
    assert ek.cost_ratio(1.2, 1.1, 1.15) == pytest.approx(1.92, abs=0.01)
    assert math.isclose(ek.cost_ratio(1.0, 1.0, 1.0), 1.0)


def test_drop_connect_schedule_grows_linearly_over_rounded_blocks():
    cfg = ek.get_config("b3")
    rates = ek.drop_connect_rates(cfg)
    assert len(rates) == sum(ek.round_repeats(b["repeats"], 1.4) for b in cfg["blocks"]) == 26
    assert rates[0] == 0 and rates[-1] == pytest.approx(0.2 * 25 / 26)
    assert [b.drop_rate for b in ek.decode_blocks(cfg)] == rates


def test_decoded_blocks_have_skip_only_when_shape_is_kept():
    blocks = ek.decode_blocks(ek.get_config("b0"))
    assert [b.name for b in blocks[:4]] == ["block1a_", "block2a_", "block2b_", "block3a_"]
    assert not blocks[1].has_skip and blocks[2].has_skip and not blocks[0].has_skip  # 32 -> 16 channels


def test_very_deep_stages_get_two_letter_block_names():
    cfg = ek.override("b0", depth=9.0)
    names = [b.name for b in ek.decode_blocks(cfg) if b.name.startswith("block6")]
    assert len(names) == 36 and names[25:27] == ["block6z_", "block6aa_"]


def test_a_misspelt_key_is_refused_suggesting_the_closest_valid_one():
    cfg = ek.get_config("b0")
    cfg["widht"] = cfg.pop("width")
    with pytest.raises(ValueError, match="unknown key 'widht'; did you mean 'width'"):
        ek.validate_config(cfg)
    cfg = ek.get_config("b0")
    cfg["blocks"][1]["kernal"] = 3
    with pytest.raises(ValueError, match=r"blocks\[1\]: unknown key 'kernal'; did you mean 'kernel'"):
        ek.validate_config(cfg)


def test_a_scaled_config_keeps_its_coefficients_and_validates_again():
    scaled = ek.compound_scale(1.2, 1.1, 1.15, 1)
    assert ek.validate_config(scaled)["alpha"] == 1.2 and scaled["base"] == "b0"


def test_a_deeply_nested_file_is_one_error_not_a_recursion_error(tmp_path):
    path = tmp_path / "deep.json"
    path.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(ValueError, match="nested too deeply"):
        ek.load_config(str(path))
