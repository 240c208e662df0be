"""Heat: heat indices and the ``heatwave-outlook`` model."""
