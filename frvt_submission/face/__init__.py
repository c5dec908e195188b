"""The face pipeline: decode, detect, align, embed, template, match."""
