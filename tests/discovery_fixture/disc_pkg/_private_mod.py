raise AssertionError("discovery must skip submodules whose names start with '_'")
