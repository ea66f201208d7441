using SkiaSharp;
using Trainer.Core.Data.Images;

namespace Trainer.Core.Tests.Data.Images;

/// <summary>SkiaSharp decoding into planar bytes: exact for PNG, colour conversions as torchvision's PIL loader, crop and stretch
/// resizing, and each broken file one error naming it.</summary>
public sealed class ImageDecoderTests : IDisposable
{
    private readonly ImageFiles _files = new();

    public void Dispose() => _files.Dispose();

    private static byte Pattern(int x, int y, int c) => (byte)(x * 31 + y * 7 + c * 80);

    private static byte[] Decode(string path, int channels, int height, int width, ResizeMode resize = ResizeMode.Crop)
    {
        var bytes = new byte[channels * height * width];
        ImageDecoder.Decode(path, channels, height, width, resize, bytes);
        return bytes;
    }

    [Fact]
    public void A_png_decodes_exactly_into_channel_planes_and_its_header_gives_size_and_channels()
    {
        var rgb = _files.Write("rgb.png", 6, 4, 3, Pattern);
        var grey = _files.Write("grey.png", 6, 4, 1, Pattern);
        var rgba = _files.Write("rgba.png", 6, 4, 4, Pattern);

        Assert.Equal(new ImageHeader(6, 4, 3), ImageDecoder.Probe(rgb));
        Assert.Equal(new ImageHeader(6, 4, 1), ImageDecoder.Probe(grey));
        Assert.Equal(new ImageHeader(6, 4, 4), ImageDecoder.Probe(rgba));
        var planes = Decode(rgb, 3, 4, 6);
        for (var c = 0; c < 3; c++)
            for (var y = 0; y < 4; y++)
                for (var x = 0; x < 6; x++)
                    Assert.Equal(Pattern(x, y, c), planes[(c * 4 + y) * 6 + x]);
        Assert.Equal(Pattern(5, 3, 3), Decode(rgba, 4, 4, 6)[(3 * 4 + 3) * 6 + 5]);
    }

    [Fact]
    public void Conversions_drop_alpha_copy_grey_to_every_channel_and_turn_colour_into_luma()
    {
        var grey = _files.Write("grey.png", 3, 2, 1, Pattern);
        var rgba = _files.Write("rgba.png", 3, 2, 4, Pattern);

        var greyAsRgb = Decode(grey, 3, 2, 3);
        Assert.Equal(greyAsRgb[..6], greyAsRgb[6..12]);
        Assert.Equal(greyAsRgb[..6], greyAsRgb[12..]);
        Assert.Equal(Pattern(2, 1, 0), greyAsRgb[5]);
        Assert.Equal(Pattern(2, 1, 1), Decode(rgba, 3, 2, 3)[6 + 5]);
        // PIL's "L": 0.299 R + 0.587 G + 0.114 B, rounded.
        var luma = Decode(rgba, 1, 2, 3);
        var (r, g, b) = (Pattern(1, 1, 0), Pattern(1, 1, 1), Pattern(1, 1, 2));
        Assert.Equal(Math.Round(0.299 * r + 0.587 * g + 0.114 * b), luma[4], 0.51);
    }

    [Fact]
    public void Crop_keeps_the_centre_at_its_scale_and_stretch_keeps_the_whole_image()
    {
        // 16×8: columns 0-3 and 12-15 black, the centre 8×8 a pattern.
        var wide = _files.Write("wide.png", 16, 8, 3, (x, y, c) => x is >= 4 and < 12 ? Pattern(x - 4, y, c) : (byte)0);

        var centre = Decode(wide, 3, 8, 8, ResizeMode.Crop);
        for (var y = 0; y < 8; y++)
            for (var x = 0; x < 8; x++)
                Assert.Equal(Pattern(x, y, 1), centre[(8 + y) * 8 + x]);

        var whole = Decode(wide, 3, 8, 8, ResizeMode.Stretch);
        Assert.True(whole[0] < 20 && whole[7] < 20, $"the black edges stay at the sides: {whole[0]}, {whole[7]}");
    }

    [Fact]
    public void A_large_jpeg_decoded_at_reduced_scale_keeps_its_colour()
    {
        var jpeg = _files.Solid("big.jpg", 640, 480, 200, 40, 90, SKEncodedImageFormat.Jpeg);
        Assert.Equal(new ImageHeader(640, 480, 3), ImageDecoder.Probe(jpeg));
        var pixels = Decode(jpeg, 3, 32, 32);
        foreach (var (plane, expected) in new[] { (0, 200), (1, 40), (2, 90) })
            Assert.All(pixels.AsSpan(plane * 1024, 1024).ToArray(), p => Assert.InRange((int)p, expected - 4, expected + 4));
    }

    [Theory]
    [InlineData("png")]
    [InlineData("jpg")]
    public void A_truncated_image_is_named(string extension)
    {
        var path = extension == "png"
            ? _files.Write("cut.png", 64, 64, 3, Pattern)
            : _files.Write("cut.jpg", 64, 64, 3, Pattern, SKEncodedImageFormat.Jpeg);
        var bytes = File.ReadAllBytes(path);
        File.WriteAllBytes(path, bytes[..(bytes.Length * 2 / 3)]);

        Assert.Equal(64, ImageDecoder.Probe(path).Width);   // the header is whole
        var e = Assert.Throws<InvalidDataException>(() => Decode(path, 3, 64, 64));
        Assert.Contains($"Image '{path}' is truncated", e.Message);
    }

    [Fact]
    public void A_file_that_is_not_an_image_and_an_empty_one_are_named()
    {
        var text = _files.PathOf("notes.png");
        File.WriteAllText(text, "not an image at all");
        var e = Assert.Throws<InvalidDataException>(() => ImageDecoder.Probe(text));
        Assert.Contains($"Image '{text}' is not an image the decoder can read", e.Message);
        var empty = _files.PathOf("empty.jpg");
        File.WriteAllBytes(empty, []);
        e = Assert.Throws<InvalidDataException>(() => ImageDecoder.Probe(empty));
        Assert.Contains($"Image '{empty}' is empty", e.Message);
    }
}
