using System.Reflection.Metadata;
using System.Reflection.Metadata.Ecma335;
using System.Reflection.PortableExecutable;
using System.Security.Cryptography;

namespace Trainer.Host.Plugins;

/// <summary>
/// Checks a plugin's bytes before the runtime loads them. The runtime trusts an assembly's metadata and IL; a damaged one
/// may load and fail much later, or behave differently, so here the file is read as a PE image, its metadata and method
/// bodies are walked, and a deterministic build (the SDK default, marked by a "Reproducible" debug entry) is compared with
/// the content hash its compiler stored in the module id and time stamp: any changed byte changes that hash.
/// </summary>
public static class PluginFile
{
    /// <summary>Null when <paramref name="bytes"/> are an intact .NET assembly as far as can be told; otherwise why not
    /// (a clause that follows "not a loadable .NET assembly:").</summary>
    public static string? Problem(byte[] bytes)
    {
        ArgumentNullException.ThrowIfNull(bytes);
        try
        {
            using var pe = new PEReader(new MemoryStream(bytes, writable: false));
            if (!pe.HasMetadata) return "it has no .NET metadata (a native library?)";
            var metadata = pe.GetMetadataReader();
            if (!metadata.IsAssembly) return "it is a .NET module without an assembly manifest";
            if (ContentIdMismatch(bytes, pe, metadata)) return
                "it is damaged: its bytes do not match the content hash its compiler recorded (a deterministic build), so it was changed " +
                "after it was built (damaged on disk, or rewritten by a post-build tool); rebuild the plugin";
            Walk(pe, metadata);
            return null;
        }
        catch (Exception e) when (e is BadImageFormatException or InvalidOperationException or ArgumentException)
        {
            return $"its PE image cannot be read ({e.Message})";
        }
    }

    /// <summary>Reads every type, method, field and attribute row and every method body, so structural damage throws here.</summary>
    private static void Walk(PEReader pe, MetadataReader metadata)
    {
        _ = metadata.GetString(metadata.GetAssemblyDefinition().Name);
        foreach (var handle in metadata.TypeDefinitions)
        {
            var type = metadata.GetTypeDefinition(handle);
            _ = metadata.GetString(type.Name) + metadata.GetString(type.Namespace);
            foreach (var f in type.GetFields()) _ = metadata.GetBlobBytes(metadata.GetFieldDefinition(f).Signature);
            foreach (var m in type.GetMethods())
            {
                var method = metadata.GetMethodDefinition(m);
                _ = metadata.GetBlobBytes(method.Signature);
                if (method.RelativeVirtualAddress != 0) _ = pe.GetMethodBody(method.RelativeVirtualAddress).GetILBytes();
            }
        }
        foreach (var handle in metadata.CustomAttributes) _ = metadata.GetBlobBytes(metadata.GetCustomAttribute(handle).Value);
        foreach (var handle in metadata.AssemblyReferences) _ = metadata.GetString(metadata.GetAssemblyReference(handle).Name);
    }

    /// <summary>
    /// True when the file is a deterministic IL build whose module id and time stamp are not the SHA-256 content id of its
    /// bytes. Roslyn computes that id over the image with the id fields zero, before strong-name and Authenticode signing,
    /// so those are zeroed (and the certificate table cut off) again here. Non-deterministic builds and ReadyToRun images,
    /// which a later tool rewrote, carry no such id and are not checked.
    /// </summary>
    private static bool ContentIdMismatch(byte[] bytes, PEReader pe, MetadataReader metadata)
    {
        var headers = pe.PEHeaders;
        if (headers.CorHeader is not { } cor || headers.PEHeader is not { } peHeader) return false;
        if ((cor.Flags & CorFlags.ILLibrary) != 0 || cor.ManagedNativeHeaderDirectory.Size > 0) return false;
        if (!pe.ReadDebugDirectory().Any(e => e.Type == DebugDirectoryEntryType.Reproducible)) return false;

        var image = (byte[])bytes.Clone();
        var mvidHandle = metadata.GetModuleDefinition().Mvid;
        var mvid = metadata.GetGuid(mvidHandle);
        int mvidOffset = headers.MetadataStartOffset + metadata.GetHeapMetadataOffset(HeapIndex.Guid) + (MetadataTokens.GetHeapOffset(mvidHandle) - 1) * 16;
        int stampOffset = headers.CoffHeaderStartOffset + 4;
        uint stamp = BitConverter.ToUInt32(image, stampOffset);
        Array.Clear(image, mvidOffset, 16);
        Array.Clear(image, stampOffset, 4);
        Array.Clear(image, headers.PEHeaderStartOffset + 64, 4);   // the PE checksum, set by signing
        if (cor.StrongNameSignatureDirectory.Size > 0 && headers.TryGetDirectoryOffset(cor.StrongNameSignatureDirectory, out int signature))
            Array.Clear(image, signature, cor.StrongNameSignatureDirectory.Size);
        int length = image.Length;
        var certificates = peHeader.CertificateTableDirectory;
        if (certificates.Size > 0 && certificates.RelativeVirtualAddress <= image.Length)
        {
            // Authenticode appends the certificates (the "address" is a file offset) and fills in their directory entry.
            Array.Clear(image, headers.PEHeaderStartOffset + (peHeader.Magic == PEMagic.PE32Plus ? 112 : 96) + 4 * 8, 8);
            length = certificates.RelativeVirtualAddress;
        }
        var id = BlobContentId.FromHash(SHA256.HashData(image.AsSpan(0, length)));
        return id.Guid != mvid || id.Stamp != stamp;
    }
}
