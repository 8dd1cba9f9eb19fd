raise AssertionError("discovery must skip modules whose names start with '_'")
