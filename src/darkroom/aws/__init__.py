"""darkroom on AWS Lambda: event parsing (`events`) and the entry points (`handlers`)."""
