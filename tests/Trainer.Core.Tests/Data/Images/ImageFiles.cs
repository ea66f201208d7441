using SkiaSharp;

namespace Trainer.Core.Tests.Data.Images;

/// <summary>PNG and JPEG files written with SkiaSharp into a temporary folder deleted on dispose.</summary>
internal sealed class ImageFiles : IDisposable
{
    public ImageFiles()
    {
        Root = Path.Combine(Path.GetTempPath(), "trainer-images-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Root);
    }

    public string Root { get; }

    public string PathOf(string relative) => Path.Combine(Root, relative);

    /// <summary>Writes an image whose byte of channel c at (x, y) is <paramref name="pixel"/>(x, y, c); channels 1 (grey PNG), 3 (opaque) or 4 (alpha).</summary>
    public string Write(string relative, int width, int height, int channels, Func<int, int, int, byte> pixel, SKEncodedImageFormat format = SKEncodedImageFormat.Png)
    {
        var info = channels == 1
            ? new SKImageInfo(width, height, SKColorType.Gray8, SKAlphaType.Opaque)
            : new SKImageInfo(width, height, SKColorType.Rgba8888, channels == 3 ? SKAlphaType.Opaque : SKAlphaType.Unpremul);
        using var bitmap = new SKBitmap(info);
        var bytes = bitmap.GetPixelSpan();
        var stride = channels == 1 ? 1 : 4;
        for (var y = 0; y < height; y++)
            for (var x = 0; x < width; x++)
                for (var c = 0; c < stride; c++)
                    bytes[(y * width + x) * stride + c] = c < channels ? pixel(x, y, c) : (byte)255;
        using var image = SKImage.FromBitmap(bitmap);
        using var data = image.Encode(format, 100);
        var path = PathOf(relative);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllBytes(path, data.ToArray());
        return path;
    }

    /// <summary>A solid-colour image.</summary>
    public string Solid(string relative, int width, int height, byte r, byte g, byte b, SKEncodedImageFormat format = SKEncodedImageFormat.Png) =>
        Write(relative, width, height, 3, (_, _, c) => c == 0 ? r : c == 1 ? g : b, format);

    /// <summary>Classes "blue", "green", "red" of <paramref name="perClass"/> 8×8 images each, mostly their colour with a
    /// per-image pattern, under <paramref name="folder"/>.</summary>
    public void ColourClasses(string folder, int perClass, int size = 8, int offset = 0)
    {
        var colours = new[] { ("blue", 2), ("green", 1), ("red", 0) };
        foreach (var (name, channel) in colours)
            for (var i = 0; i < perClass; i++)
                Write(Path.Combine(folder, name, $"{i + offset:000}.png"), size, size, 3,
                    (x, y, c) => (byte)(c == channel ? 180 + (x * 7 + y * 3 + i * 11) % 70 : (x * 5 + y * 13 + i * 17 + c * 29) % 90));
    }

    public void Dispose()
    {
        if (Directory.Exists(Root)) Directory.Delete(Root, recursive: true);
    }
}
