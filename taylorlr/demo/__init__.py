"""``taylorlr demo``: source 000's one-step demonstration as a local web page.

A small server on 127.0.0.1 (:mod:`taylorlr.demo.server`) serves one static page
(``static/``: HTML, JavaScript and CSS, shipped with the package) and a JSON endpoint
per panel (:mod:`taylorlr.demo.panels`). The page only draws and sends slider values:
every number it shows is computed here, by taylorlr (``one_step_demo``,
``tl.newton_step``, ``tl.run``), from requests that :mod:`taylorlr.demo.fields`
validates first.

Importing this package loads nothing heavy; the panels load SymPy and NumPy when a
request needs them.
"""
