-- The Chinook sample database (a digital media store: artists, albums, tracks, playlists, customers, invoices;
-- Luis Rocha, MIT licence: LICENSE beside this file) on MariaDB, in Chinook's own tables and columns, with its
-- foreign keys. data.sql.gz holds its rows (generate.py says where they come from).

CREATE TABLE Artist (ArtistId int NOT NULL PRIMARY KEY, Name varchar(120)) CHARACTER SET utf8mb4;
CREATE TABLE Genre (GenreId int NOT NULL PRIMARY KEY, Name varchar(120)) CHARACTER SET utf8mb4;
CREATE TABLE MediaType (MediaTypeId int NOT NULL PRIMARY KEY, Name varchar(120)) CHARACTER SET utf8mb4;
CREATE TABLE Playlist (PlaylistId int NOT NULL PRIMARY KEY, Name varchar(120)) CHARACTER SET utf8mb4;
CREATE TABLE Album (
    AlbumId int NOT NULL PRIMARY KEY,
    Title varchar(160) NOT NULL,
    ArtistId int NOT NULL,
    CONSTRAINT FK_AlbumArtistId FOREIGN KEY (ArtistId) REFERENCES Artist (ArtistId)
) CHARACTER SET utf8mb4;
CREATE TABLE Employee (
    EmployeeId int NOT NULL PRIMARY KEY,
    LastName varchar(20) NOT NULL,
    FirstName varchar(20) NOT NULL,
    Title varchar(30),
    ReportsTo int,
    BirthDate datetime,
    HireDate datetime,
    Address varchar(70),
    City varchar(40),
    State varchar(40),
    Country varchar(40),
    PostalCode varchar(10),
    Phone varchar(24),
    Fax varchar(24),
    Email varchar(60),
    CONSTRAINT FK_EmployeeReportsTo FOREIGN KEY (ReportsTo) REFERENCES Employee (EmployeeId)
) CHARACTER SET utf8mb4;
CREATE TABLE Customer (
    CustomerId int NOT NULL PRIMARY KEY,
    FirstName varchar(40) NOT NULL,
    LastName varchar(20) NOT NULL,
    Company varchar(80),
    Address varchar(70),
    City varchar(40),
    State varchar(40),
    Country varchar(40),
    PostalCode varchar(10),
    Phone varchar(24),
    Fax varchar(24),
    Email varchar(60) NOT NULL,
    SupportRepId int,
    CONSTRAINT FK_CustomerSupportRepId FOREIGN KEY (SupportRepId) REFERENCES Employee (EmployeeId)
) CHARACTER SET utf8mb4;
CREATE TABLE Track (
    TrackId int NOT NULL PRIMARY KEY,
    Name varchar(200) NOT NULL,
    AlbumId int,
    MediaTypeId int NOT NULL,
    GenreId int,
    Composer varchar(220),
    Milliseconds int NOT NULL,
    Bytes int,
    UnitPrice decimal(10,2) NOT NULL,
    CONSTRAINT FK_TrackAlbumId FOREIGN KEY (AlbumId) REFERENCES Album (AlbumId),
    CONSTRAINT FK_TrackGenreId FOREIGN KEY (GenreId) REFERENCES Genre (GenreId),
    CONSTRAINT FK_TrackMediaTypeId FOREIGN KEY (MediaTypeId) REFERENCES MediaType (MediaTypeId)
) CHARACTER SET utf8mb4;
CREATE TABLE Invoice (
    InvoiceId int NOT NULL PRIMARY KEY,
    CustomerId int NOT NULL,
    InvoiceDate datetime NOT NULL,
    BillingAddress varchar(70),
    BillingCity varchar(40),
    BillingState varchar(40),
    BillingCountry varchar(40),
    BillingPostalCode varchar(10),
    Total decimal(10,2) NOT NULL,
    CONSTRAINT FK_InvoiceCustomerId FOREIGN KEY (CustomerId) REFERENCES Customer (CustomerId)
) CHARACTER SET utf8mb4;
CREATE TABLE InvoiceLine (
    InvoiceLineId int NOT NULL PRIMARY KEY,
    InvoiceId int NOT NULL,
    TrackId int NOT NULL,
    UnitPrice decimal(10,2) NOT NULL,
    Quantity int NOT NULL,
    CONSTRAINT FK_InvoiceLineInvoiceId FOREIGN KEY (InvoiceId) REFERENCES Invoice (InvoiceId),
    CONSTRAINT FK_InvoiceLineTrackId FOREIGN KEY (TrackId) REFERENCES Track (TrackId)
) CHARACTER SET utf8mb4;
CREATE TABLE PlaylistTrack (
    PlaylistId int NOT NULL,
    TrackId int NOT NULL,
    PRIMARY KEY (PlaylistId, TrackId),
    CONSTRAINT FK_PlaylistTrackPlaylistId FOREIGN KEY (PlaylistId) REFERENCES Playlist (PlaylistId),
    CONSTRAINT FK_PlaylistTrackTrackId FOREIGN KEY (TrackId) REFERENCES Track (TrackId)
) CHARACTER SET utf8mb4;
