// PPM/PGM reader: header read with >>, one whitespace byte, then raw bytes (no comments).
#include "image_io.h"

#include <fstream>
#include <memory>

namespace validate11 {

std::string read_image(const std::string &path, FRVT::ImageDescription description, FRVT::Image &image) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return "cannot open " + path;
    std::string magic;
    long width = 0, height = 0, maxval = 0;
    in >> magic >> width >> height >> maxval;
    if (!in || (magic != "P6" && magic != "P5")) return "not a binary PPM/PGM: " + path;
    if (width < 0 || height < 0 || width > 65535 || height > 65535 || maxval != 255)
        return "unsupported PPM/PGM header in " + path;
    in.get();  // the single whitespace byte after maxval
    const uint8_t depth = magic == "P6" ? 24 : 8;
    const size_t bytes = static_cast<size_t>(width) * height * (depth / 8);
    std::shared_ptr<uint8_t> data(new uint8_t[bytes > 0 ? bytes : 1], std::default_delete<uint8_t[]>());
    in.read(reinterpret_cast<char *>(data.get()), static_cast<std::streamsize>(bytes));
    if (static_cast<size_t>(in.gcount()) != bytes) return "truncated pixel data in " + path;
    image = FRVT::Image(static_cast<uint16_t>(width), static_cast<uint16_t>(height), depth, data, description,
                        FRVT::Illuminant::Unspecified);
    return "";
}

FRVT::ImageDescription description_from_label(const std::string &label) {
    using D = FRVT::ImageDescription;
    if (label == "faceiso") return D::FaceIso;
    if (label == "facemugshot") return D::FaceMugshot;
    if (label == "facephotojournalism") return D::FacePhotojournalism;
    if (label == "facewild") return D::FaceWild;
    return D::FaceUnknown;
}

}  // namespace validate11
