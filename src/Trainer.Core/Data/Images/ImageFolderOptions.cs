namespace Trainer.Core.Data.Images;

/// <summary>Whether decoded images are kept in memory or decoded again for every batch.</summary>
public enum ImageLoading
{
    /// <summary>In memory when every split fits under the memory limit, streamed otherwise.</summary>
    Auto,
    /// <summary>Decode once and keep uint8 pixels in memory.</summary>
    Memory,
    /// <summary>Decode each batch's files in the background while the previous batch trains.</summary>
    Stream,
}

/// <summary>How an image folder is decoded.</summary>
/// <param name="Height">Target height, or null for the images' own (which must then agree).</param>
/// <param name="Width">Target width, or null for the images' own.</param>
/// <param name="Resize">How an image of another size is brought to the target.</param>
/// <param name="Channels">1, 3 or 4 to convert every image, or null for the images' own (which must then agree).</param>
/// <param name="Loading">Memory, streaming, or chosen by size.</param>
/// <param name="MemoryLimitBytes">Largest decoded size kept in memory under <see cref="ImageLoading.Auto"/>.</param>
/// <param name="DecodeThreads">Threads decoding at once.</param>
/// <param name="PrefetchBatches">Batches a streaming loader decodes ahead.</param>
public sealed record ImageFolderOptions(int? Height = null, int? Width = null, ResizeMode Resize = ResizeMode.Crop, int? Channels = null,
    ImageLoading Loading = ImageLoading.Auto, long MemoryLimitBytes = long.MaxValue, int DecodeThreads = 1, int PrefetchBatches = 4)
{
    /// <summary>Half of the memory this process may use: the default limit of in-memory images.</summary>
    public static long DefaultMemoryLimitBytes => GC.GetGCMemoryInfo().TotalAvailableMemoryBytes / 2;
}
