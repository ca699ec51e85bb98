"""``python -m sarcolor.data.sources``: print the README's table of dataset layouts."""

from sarcolor.data.sources import layout_table

print(layout_table())
