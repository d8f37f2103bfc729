# Packer >= 1.7 installs the Amazon, Google Compute and Azure plugins from here (`packer init .`). Kept in its own file so
# the template itself stays valid for Packer 1.6 (Debian's package), which bundles amazon-ebs
# and predates required_plugins; the project's tests validate with that version.
packer {
  required_version = ">= 1.6.6"
  required_plugins {
    amazon = {
      version = ">= 1.2.0"
      source  = "github.com/hashicorp/amazon"
    }
    googlecompute = {
      version = ">= 1.1.0"
      source  = "github.com/hashicorp/googlecompute"
    }
    azure = {
      version = ">= 2.0.0"
      source  = "github.com/hashicorp/azure"
    }
  }
}
