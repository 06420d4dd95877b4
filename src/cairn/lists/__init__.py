"""Hash lists: parsing the field's formats and matching signals against lists."""
