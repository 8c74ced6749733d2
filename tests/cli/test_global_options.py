"""--plugin is a global option that may also follow the subcommand: main() moves it first."""

from polymodal.cli.main import hoist_global_options


def test_plugin_options_move_before_the_subcommand_in_order():
    argv = ["train", "exp.yaml", "--plugin", "a", "train.lr=0.1", "--plugin=b", "--out", "r"]
    assert hoist_global_options(argv) == [
        "--plugin",
        "a",
        "--plugin=b",
        "train",
        "exp.yaml",
        "train.lr=0.1",
        "--out",
        "r",
    ]


def test_arguments_after_a_double_dash_and_a_dangling_option_stay():
    assert hoist_global_options(["x", "--", "--plugin", "a"]) == ["x", "--", "--plugin", "a"]
    assert hoist_global_options(["components", "--plugin"]) == ["components", "--plugin"]
    assert hoist_global_options(["--debug", "train", "c.yaml"]) == ["--debug", "train", "c.yaml"]
