raise AssertionError("discovery must skip files whose names are not identifiers")
