-- attach the app file as `app`; a second attach of the same file is a no-op
attach if not exists $path as app
