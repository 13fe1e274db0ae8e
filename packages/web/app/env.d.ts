// Vite bundles imported stylesheets into the build's hashed CSS file.
declare module '*.css';
