"""Use cases: plain arguments and a database session in, results or typed errors out."""
