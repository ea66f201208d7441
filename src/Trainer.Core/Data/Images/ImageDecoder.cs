using System.Runtime.InteropServices;
using SkiaSharp;

namespace Trainer.Core.Data.Images;

/// <summary>How an image of another size is brought to the configured size.</summary>
public enum ResizeMode
{
    /// <summary>Scale so the image covers the target, then cut the centre (torchvision's Resize then CenterCrop): no distortion.</summary>
    Crop,
    /// <summary>Scale each axis to the target: the whole image, distorted when the aspect ratios differ.</summary>
    Stretch,
}

/// <summary>What a file's header says: its size and channel count (1 greyscale, 3 colour, 4 colour with alpha).</summary>
/// <param name="Width">Width in pixels.</param>
/// <param name="Height">Height in pixels.</param>
/// <param name="Channels">1, 3 or 4.</param>
public readonly record struct ImageHeader(int Width, int Height, int Channels)
{
    /// <summary>"greyscale (1 channel)", "RGB (3 channels)", "RGBA (4 channels)".</summary>
    public static string Describe(int channels) => channels switch
    {
        1 => "greyscale (1 channel)",
        3 => "RGB (3 channels)",
        _ => "RGBA (4 channels)",
    };
}

/// <summary>
/// Decodes PNG and JPEG files with SkiaSharp (the Skia library ScottPlot already brings: libpng and libjpeg-turbo, no
/// managed re-implementation of the formats) into planar uint8 pixels <c>[C, H, W]</c> of a fixed size. JPEGs much larger
/// than the target are decoded at a reduced scale by the codec itself (1/2, 1/4, 1/8), then resampled with a Mitchell
/// cubic filter. Colour conversions follow torchvision's PIL loader: alpha dropped for RGB, greyscale as ITU-R 601-2 luma
/// (<c>L = 0.299 R + 0.587 G + 0.114 B</c>), greyscale sources copied to every colour channel. Thread-safe.
/// </summary>
public static class ImageDecoder
{
    private static readonly SKSamplingOptions Sampling = new(SKCubicResampler.Mitchell);

    /// <summary>The size and channels of <paramref name="path"/>, from its header alone.</summary>
    /// <exception cref="InvalidDataException">The file cannot be read or is not an image the decoder knows (the message names it).</exception>
    public static ImageHeader Probe(string path)
    {
        using var image = Open(path);
        var info = image.Codec.Info;
        return new ImageHeader(info.Width, info.Height, Channels(info));
    }

    /// <summary>Decodes <paramref name="path"/> into <paramref name="destination"/> (<c>channels·height·width</c> bytes, planar).</summary>
    /// <exception cref="InvalidDataException">The file is unreadable, not an image, or truncated (the message names it).</exception>
    public static void Decode(string path, int channels, int height, int width, ResizeMode resize, Span<byte> destination)
    {
        if (channels is not (1 or 3 or 4)) throw new ArgumentOutOfRangeException(nameof(channels), channels, "1, 3 or 4");
        if (destination.Length != channels * height * width)
            throw new ArgumentException($"Destination holds {destination.Length} bytes, not {channels}×{height}×{width}.", nameof(destination));
        using var image = Open(path);
        var codec = image.Codec;
        var source = codec.Info;
        var sourceIsGrey = source.ColorType == SKColorType.Gray8;
        var crop = CropRect(source.Width, source.Height, width, height, resize);

        // Decode at the smallest scale the codec offers that still covers the crop at the target size.
        var scale = Math.Max((double)height / crop.Height, (double)width / crop.Width);
        var decoded = new SKSizeI(source.Width, source.Height);
        if (scale < 0.5)
        {
            var scaled = codec.GetScaledDimensions((float)scale);
            if (scaled.Width * crop.Width >= width * (long)source.Width && scaled.Height * crop.Height >= height * (long)source.Height)
            {
                var (sx, sy) = ((double)scaled.Width / source.Width, (double)scaled.Height / source.Height);
                crop = SKRectI.Create((int)(crop.Left * sx), (int)(crop.Top * sy),
                    Math.Max(1, Math.Min(scaled.Width, (int)Math.Round(crop.Width * sx))), Math.Max(1, Math.Min(scaled.Height, (int)Math.Round(crop.Height * sy))));
                decoded = scaled;
            }
        }
        var decodeInfo = new SKImageInfo(decoded.Width, decoded.Height, SKColorType.Rgba8888, SKAlphaType.Unpremul);
        var rgba = GC.AllocateUninitializedArray<byte>(decoded.Width * decoded.Height * 4);
        var result = codec.GetPixels(decodeInfo, rgba);
        if (result != SKCodecResult.Success)
            throw new InvalidDataException(result == SKCodecResult.IncompleteInput
                ? $"Image '{path}' is truncated: its data ends before the last row. Replace or delete the file."
                : $"Image '{path}' cannot be decoded ({result}). Replace or delete the file.");

        var target = rgba;
        if (crop.Width != width || crop.Height != height || crop.Left != 0 || crop.Top != 0 || decoded.Width != width || decoded.Height != height)
            target = Resample(rgba, decodeInfo, crop, width, height, path);
        ToPlanar(target, channels, sourceIsGrey, destination);
    }

    private static OpenImage Open(string path)
    {
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new InvalidDataException($"Image '{path}' cannot be read: {e.Message}", e);
        }
        if (bytes.Length == 0) throw new InvalidDataException($"Image '{path}' is empty (0 bytes). Replace or delete the file.");
        var data = SKData.CreateCopy(bytes);
        var codec = SKCodec.Create(data);
        if (codec is not null) return new OpenImage(codec, data);
        data.Dispose();
        throw new InvalidDataException(
            $"Image '{path}' is not an image the decoder can read: its header is not PNG or JPEG (or is damaged). Replace or delete the file.");
    }

    /// <summary>A codec with the bytes it reads, released together.</summary>
    private sealed class OpenImage(SKCodec codec, SKData data) : IDisposable
    {
        public SKCodec Codec { get; } = codec;

        public void Dispose()
        {
            Codec.Dispose();
            data.Dispose();
        }
    }

    private static int Channels(SKImageInfo info) =>
        info.ColorType == SKColorType.Gray8 ? 1 : info.AlphaType == SKAlphaType.Opaque ? 3 : 4;

    /// <summary>The part of a <paramref name="w"/>×<paramref name="h"/> source that maps onto the target.</summary>
    private static SKRectI CropRect(int w, int h, int targetWidth, int targetHeight, ResizeMode resize)
    {
        if (resize == ResizeMode.Stretch) return SKRectI.Create(0, 0, w, h);
        // The largest centred rectangle of the target's aspect ratio.
        var cropWidth = (int)Math.Min(w, Math.Round((double)h * targetWidth / targetHeight));
        var cropHeight = (int)Math.Min(h, Math.Round((double)w * targetHeight / targetWidth));
        cropWidth = Math.Max(1, cropWidth);
        cropHeight = Math.Max(1, cropHeight);
        return SKRectI.Create((w - cropWidth) / 2, (h - cropHeight) / 2, cropWidth, cropHeight);
    }

    private static byte[] Resample(byte[] rgba, SKImageInfo info, SKRectI crop, int width, int height, string path)
    {
        var output = GC.AllocateUninitializedArray<byte>(width * height * 4);
        var source = GCHandle.Alloc(rgba, GCHandleType.Pinned);
        var target = GCHandle.Alloc(output, GCHandleType.Pinned);
        try
        {
            using var full = new SKPixmap(info, source.AddrOfPinnedObject(), info.RowBytes);
            using var part = full.ExtractSubset(crop);
            using var resized = new SKPixmap(new SKImageInfo(width, height, SKColorType.Rgba8888, SKAlphaType.Unpremul), target.AddrOfPinnedObject(), width * 4);
            if (part is null || !part.ScalePixels(resized, Sampling))
                throw new InvalidDataException($"Image '{path}' could not be resized from {info.Width}×{info.Height} to {width}×{height}.");
        }
        finally
        {
            source.Free();
            target.Free();
        }
        return output;
    }

    private static void ToPlanar(byte[] rgba, int channels, bool sourceIsGrey, Span<byte> destination)
    {
        var plane = rgba.Length / 4;
        if (channels == 1)
        {
            for (var i = 0; i < plane; i++)
            {
                var p = 4 * i;
                destination[i] = sourceIsGrey
                    ? rgba[p]
                    : (byte)((rgba[p] * 19595 + rgba[p + 1] * 38470 + rgba[p + 2] * 7471 + 32768) >> 16);
            }
            return;
        }
        for (var c = 0; c < channels; c++)
        {
            var output = destination.Slice(c * plane, plane);
            for (var i = 0; i < plane; i++) output[i] = rgba[4 * i + c];
        }
    }
}
