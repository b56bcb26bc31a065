"""`openpool demo`: a generated pool through the whole pipeline on the local stack, ending in a report."""
