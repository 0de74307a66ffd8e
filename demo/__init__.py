"""The hotreload demo and the terminal driver the end-to-end tests share.

``python -m demo`` runs a scripted IPython session that edits a module between cells;
:class:`demo.driver.TerminalSession` is the piece that talks to the real ``ipython`` process.
"""
