"""The app's screens, one module each: built from Python with ``pyfront.browser.ui``, styled by
``static/app.css``. A view renders into a container and reports what the person did through callbacks;
it holds no state beyond its own form."""
