"""Specification of effnet_keras.tables: the Markdown table writer of every report and summary."""

from effnet_keras.tables import markdown_table


def test_columns_are_padded_first_left_aligned_the_others_right_aligned():
    table = markdown_table(["model", "params"], [["b0", "4,049,564"], ["simple-cnn", "306"]])
    assert table.splitlines() == [
        "| model      |    params |",
        "|------------|----------:|",
        "| b0         | 4,049,564 |",
        "| simple-cnn |       306 |",
    ]


def test_a_table_without_rows_is_its_header_and_rule():
    assert markdown_table(["metric", "value"], []).splitlines() == ["| metric | value |", "|--------|------:|"]
