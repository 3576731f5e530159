"""The Gradio user interface: one module per tab, built by `genlab.ui.app.build_app`."""
