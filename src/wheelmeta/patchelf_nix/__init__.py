"""soname -> nixpkgs attribute map (data + classification), the Nix expression writer, patching of ELF members."""
