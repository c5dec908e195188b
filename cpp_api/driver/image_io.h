// Binary PPM (P6, depth 24) / PGM (P5, depth 8) reading as NIST's driver does it.
#ifndef VALIDATE11_IMAGE_IO_H
#define VALIDATE11_IMAGE_IO_H

#include <frvt_structs.h>

#include <string>

namespace validate11 {

// Reads path into image; returns "" or the reason it could not (never throws).
std::string read_image(const std::string &path, FRVT::ImageDescription description, FRVT::Image &image);

FRVT::ImageDescription description_from_label(const std::string &label);

}  // namespace validate11

#endif
