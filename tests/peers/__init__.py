"""Independent implementations the dialect tests compare against (tests only, never imported by
the package): written from the published equations, not from neurodeploy's code."""
