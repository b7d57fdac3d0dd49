"""The platform's policy pack (``rules``) and its offline runner (``offline``)."""
